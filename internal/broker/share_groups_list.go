package broker

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// ListGroups and DeleteGroups cover share groups too (the Java Admin's listGroups,
// listShareGroups and deleteShareGroups send them): the consumer-group coordinator answers
// for its groups and the share coordinator's are added (ListGroups v5 type "share", states
// Empty and Stable) or deleted here. These registrations replace groups.go's for the two
// keys: this file's init runs after groups.go's (files initialize in name order).

func init() {
	register(kmsg.ListGroups, 0, (*Broker).handleListGroupsWithShare)
	register(kmsg.DeleteGroups, 0, (*Broker).handleDeleteGroupsWithShare)
}

const shareGroupType = "share"

func (b *Broker) handleListGroupsWithShare(r *request) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	sc := b.shareCoordIfUsed()
	if sc == nil {
		b.handleGroupRequest(r)
		return
	}
	types := map[string]bool{}
	for _, t := range req.TypesFilter {
		types[strings.ToLower(strings.TrimSpace(t))] = true
	}
	states := map[string]bool{}
	for _, s := range req.StatesFilter {
		states[strings.ToLower(strings.TrimSpace(s))] = true
	}
	if len(types) > 0 && !types[shareGroupType] {
		b.handleGroupRequest(r)
		return
	}
	listed := sc.List()
	clusterOK := r.authorizedCluster(opDescribe)
	r.addPost(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		for _, g := range listed {
			if len(states) > 0 && !states[strings.ToLower(g.State)] {
				continue
			}
			if !clusterOK && !r.authorized(opDescribe, rtGroup, g.ID) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.ID, "share", g.State, shareGroupType
			lr.Groups = append(lr.Groups, lg)
		}
	})
	b.handleGroupRequest(r)
}

func (b *Broker) handleDeleteGroupsWithShare(r *request) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	sc := b.shareCoordIfUsed()
	if sc == nil {
		b.handleGroupRequest(r)
		return
	}
	var shared, rest []string
	for _, g := range req.Groups {
		if sc.IsGroup(g) {
			shared = append(shared, g)
		} else {
			rest = append(rest, g)
		}
	}
	if len(shared) == 0 {
		b.handleGroupRequest(r)
		return
	}
	req.Groups = rest
	go func() {
		results := make([]kmsg.DeleteGroupsResponseGroup, 0, len(shared))
		for _, g := range shared {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group = g
			if err := sc.DeleteGroup(r.ctx(), g, b.shareTPs(nil)); err != nil {
				switch {
				case errors.Is(err, share.ErrGroupNotEmpty):
					rg.ErrorCode = kerr.NonEmptyGroup.Code
				case errors.Is(err, share.ErrNoGroup):
					rg.ErrorCode = kerr.GroupIDNotFound.Code
				case errors.Is(err, share.ErrNotCoordinator), errors.Is(err, share.ErrLoading):
					rg.ErrorCode = share.OwnerCode(err)
				default:
					b.log.Warn("delete share group failed", "group", g, "err", err)
					rg.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
			results = append(results, rg)
		}
		r.addPost(func(resp kmsg.Response) {
			dr := resp.(*kmsg.DeleteGroupsResponse)
			dr.Groups = append(dr.Groups, results...)
		})
		b.handleGroupRequest(r)
	}()
}
