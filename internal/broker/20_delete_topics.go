package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6 (Kafka 3.9).
//
// Behaviour: by name (v0-5) or by name or id (v6). Unknown names are
// UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID; internal topics are refused.
// Deletion is durable once meta.json no longer lists the topic; the partition directories are
// renamed to *-delete and removed (a crash in between is finished at the next start).
// Committed group offsets of the topic are removed too.

func init() { register(kmsg.DeleteTopics, 0, (*Broker).handleDeleteTopics) }

func (b *Broker) handleDeleteTopics(r *request) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			n := n
			targets = append(targets, target{name: &n})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var t *topic
		if tg.name != nil {
			t = b.lookupTopic(*tg.name)
		} else {
			t = b.lookupTopicID(tg.id)
		}
		var err error
		switch {
		case t == nil && tg.name == nil:
			err = kErr(kerr.UnknownTopicID, "no topic with that id")
		case t == nil:
			err = kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", *tg.name)
		case b.cl != nil:
			name := t.name
			st.Topic, st.TopicID = &name, t.id
			err = b.cl.deleteTopic(r.ctx(), t.name)
		default:
			name := t.name
			st.Topic, st.TopicID = &name, t.id
			err = b.deleteTopic(t)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err)
			if req.Version < 5 {
				st.ErrorMessage = nil
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
