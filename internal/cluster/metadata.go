package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
)

// NoLeader is the Leader of a partition without one (Kafka's -1): every candidate is fenced
// and unclean election is off. Metadata answers LEADER_NOT_AVAILABLE for it.
const NoLeader int32 = -1

// Broker is a live broker's registration, held in the store on the broker's lease.
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"` // advertised Kafka host
	Port int32  `json:"port"` // advertised Kafka port
	Rack string `json:"rack,omitempty"`
	// Unclean says the broker restarted without its log intact (a lost or replaced data
	// directory, or page-cache durability after a crash): the controller removes it from
	// every ISR and ELR (KIP-966's unclean registration) so it can only rejoin by catching
	// up. Register writes it as a marker key, which the controller deletes once done; a
	// snapshot derives the field from the marker.
	Unclean bool `json:"-"`
	// Epoch is the broker epoch (KIP-903): the store revision of this registration. It is
	// not stored in the value; the store fills it from the key's modification revision, so
	// every new registration gets a new, higher epoch.
	Epoch int64 `json:"-"`
	// ShuttingDown is set while the broker asked for a controlled shutdown (its shutdown key
	// exists): it must lose every leadership and join no ISR.
	ShuttingDown bool `json:"-"`
	// Draining is set while the broker is drained (maintenance mode, drain.go): it keeps its
	// replicas and ISR memberships but leads nothing another ISR member could lead.
	Draining bool `json:"-"`
}

// TopicID is a topic's 16-byte UUID (Kafka's topic id), written as 32 hex digits.
type TopicID [16]byte

// NewTopicID returns a random version-4 UUID.
func NewTopicID() TopicID {
	var id TopicID
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("cluster: crypto/rand failed: %v", err))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText writes the id as 32 hex digits.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads 32 hex digits.
func (id *TopicID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("cluster: topic id %q is not 32 hex digits", b)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Topic is a topic: its id, partition count and the configs set on it (only overrides;
// defaults come from the broker configuration).
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	// Rev is the store's modification revision of the topic key, the CAS token of config
	// changes and deletion. Not stored in the value.
	Rev int64 `json:"-"`
}

// PartitionState is one partition's replication metadata, the record every leader election
// and ISR change rewrites (KRaft's PartitionRecord/PartitionChangeRecord).
type PartitionState struct {
	Topic     string  `json:"topic"`
	TopicID   TopicID `json:"topicId"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"` // assignment order; the first is the preferred leader
	ISR       []int32 `json:"isr"`
	// ELR is KIP-966's eligible leader replicas: replicas that left the ISR while it was
	// below min.insync.replicas, and so still hold everything the HW ever covered.
	ELR []int32 `json:"elr,omitempty"`
	// LastKnownELR holds ELR members that were fenced out of it, for an operator's
	// last-resort recovery (KIP-966); never used for automatic election.
	LastKnownELR []int32 `json:"lastKnownElr,omitempty"`
	Leader       int32   `json:"leader"`
	// LeaderBrokerEpoch is the leader's broker epoch when it was elected. A broker leads
	// only in a registration that matches it: one that restarted (and may have lost an
	// unsynced tail some followers already fetched) waits for the controller to elect it,
	// or another replica, in a new leader epoch, so two different records never share an
	// offset and an epoch.
	LeaderBrokerEpoch int64 `json:"leaderBrokerEpoch"`
	// LeaderEpoch grows with every leader change (and with an unclean election); fetches and
	// produces carry it, so a stale leader or follower is fenced.
	LeaderEpoch int32 `json:"leaderEpoch"`
	// PartitionEpoch grows with every change of this record; ISR changes name the epoch they
	// were computed from.
	PartitionEpoch int32 `json:"partitionEpoch"`
	// AddingReplicas and RemovingReplicas describe a reassignment in progress (KIP-455):
	// Replicas is then the union of the target and the original replicas (target first), the
	// adding replicas are the target's that are new, the removing ones the original's that
	// are not in the target. Both are empty when no reassignment is in progress (reassign.go).
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
	// Rev is the store's modification revision of the partition key, the CAS token. Not
	// stored in the value.
	Rev int64 `json:"-"`
	// CreateRev is the store's creation revision of the partition key (0: unknown). An
	// unclean-restart marker older than it does not concern the partition (uncleanFor).
	CreateRev int64 `json:"-"`
}

// Clone returns a deep copy.
func (p PartitionState) Clone() PartitionState {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.ELR = slices.Clone(p.ELR)
	p.LastKnownELR = slices.Clone(p.LastKnownELR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return p
}

// Key names the partition.
func (p PartitionState) Key() PartitionKey {
	return PartitionKey{Topic: p.Topic, Partition: p.Partition}
}

// PartitionKey names a partition by topic name and index.
type PartitionKey struct {
	Topic     string
	Partition int32
}

func (k PartitionKey) String() string { return k.Topic + "-" + strconv.Itoa(int(k.Partition)) }

// Snapshot is the whole cluster metadata at one store revision.
type Snapshot struct {
	Rev        int64
	ClusterID  string
	Controller int32 // the elected controller's broker id, -1 when none
	Brokers    map[int32]Broker
	Topics     map[string]Topic
	Partitions map[PartitionKey]PartitionState
	// The security metadata, each map by its record's key (SCRAMCredential.Key, ACL.Key,
	// ClientQuota.Key).
	SCRAM  map[string]SCRAMCredential
	ACLs   map[string]ACL
	Quotas map[string]ClientQuota
	// GroupConfigs are the groups' config overrides by GroupConfig.Key (GroupConfigOf).
	GroupConfigs map[string]GroupConfig

	uncleanRevs  map[int32]int64 // broker → revision of its unclean-restart marker
	drains       map[int32]int64 // broker → revision of its drain key (drain.go)
	electionKeys map[string]kv   // the controller election's keys
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		Controller:   -1,
		Brokers:      map[int32]Broker{},
		Topics:       map[string]Topic{},
		Partitions:   map[PartitionKey]PartitionState{},
		SCRAM:        map[string]SCRAMCredential{},
		ACLs:         map[string]ACL{},
		Quotas:       map[string]ClientQuota{},
		GroupConfigs: map[string]GroupConfig{},
	}
}

// Live reports whether broker id is registered and not shutting down (KRaft's "unfenced").
func (s *Snapshot) Live(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.ShuttingDown
}

// LiveBrokers returns the live brokers' ids, sorted.
func (s *Snapshot) LiveBrokers() []int32 {
	var ids []int32
	for id := range s.Brokers {
		if s.Live(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
