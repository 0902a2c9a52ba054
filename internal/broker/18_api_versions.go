package broker

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/wire"
)

// ApiVersions: v0-4 (Kafka 3.9).
//
// Behaviour:
//   - Lists every served key with its version range.
//   - A version above ours is answered at v0 with UNSUPPORTED_VERSION and our ApiVersions range
//     (KIP-511; done in conn.readLoop, which cannot decode the request).
//   - v3+: client software name and version must match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
//     else INVALID_REQUEST, as Kafka does.

func init() { register(kmsg.ApiVersions, 0, (*Broker).handleApiVersions) }

var softwareRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleApiVersions(r *request) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := b.apiVersionsResponse()
	resp.SetVersion(req.Version)
	if req.Version >= 3 && (!softwareRE.MatchString(req.ClientSoftwareName) || !softwareRE.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	r.respond(resp)
}

func (b *Broker) apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	b.versions.Each(func(key int16, vr wire.VersionRange) {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, vr.Min, vr.Max
		resp.ApiKeys = append(resp.ApiKeys, k)
	})
	return resp
}
