package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/gossip"
)

// keyringTimeout bounds a mesh-wide keyring operation.
const keyringTimeout = 15 * time.Second

// handleMesh adds the membership endpoints: /v1/agent/members,
// /v1/catalog/nodes, join, leave, force-leave and /v1/operator/keyring.
func (a *API) handleMesh() {
	a.mux.HandleFunc("GET /v1/agent/members", a.handleMembers)
	a.mux.HandleFunc("GET /v1/catalog/nodes", a.discovery(nil, discoveryParams{nodeMeta: true, near: true, filter: true}, a.catalogNodes))
	a.mux.HandleFunc("PUT /v1/agent/join/{addr}", a.handleJoin)
	a.mux.HandleFunc("PUT /v1/agent/leave", a.handleLeave)
	a.mux.HandleFunc("PUT /v1/agent/force-leave/{node}", a.handleForceLeave)
	a.mux.HandleFunc("GET /v1/operator/keyring", a.handleKeyring(gossip.KeyringList))
	a.mux.HandleFunc("POST /v1/operator/keyring", a.handleKeyring(gossip.KeyringInstall))
	a.mux.HandleFunc("PUT /v1/operator/keyring", a.handleKeyring(gossip.KeyringUse))
	a.mux.HandleFunc("DELETE /v1/operator/keyring", a.handleKeyring(gossip.KeyringRemove))
}

// consulStatus is a member's status as Serf numbers it; a suspect member
// is reported alive, as Serf does.
func consulStatus(s gossip.Status) int {
	if s == gossip.StatusSuspect {
		return int(gossip.StatusAlive)
	}
	return int(s)
}

func (a *API) handleMembers(w http.ResponseWriter, r *http.Request) {
	dc := a.self().Datacenter
	members := a.mesh.Members()
	out := make([]api.AgentMember, 0, len(members))
	for _, m := range members {
		tags := make(map[string]string, len(m.Tags)+3)
		maps.Copy(tags, m.Tags)
		tags["dc"], tags["role"], tags["status"] = dc, "node", m.Status.String()
		out = append(out, api.AgentMember{
			Name: m.Name, Addr: m.Addr.String(), Port: m.Port, Tags: tags, Status: consulStatus(m.Status),
			ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
		})
	}
	writeJSON(w, out)
}

// CatalogNode is a member as Consul's catalog shows a node (and render's
// nodes).
func CatalogNode(m *gossip.Member, dc string) api.CatalogNode {
	// Node meta is the user's tags and the site, not the mesh's own (id,
	// RPC address, certificate, boot nonce, version).
	meta := map[string]string{}
	for k, v := range m.Tags {
		if !gossip.IsReserved(k) {
			meta[k] = v
		}
	}
	meta["site"] = m.Site
	addr := m.Addr.String()
	return api.CatalogNode{
		ID: m.ID, Node: m.Name, Address: addr, Datacenter: dc,
		TaggedAddresses: map[string]string{"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr},
		Meta:            meta, CreateIndex: 1, ModifyIndex: 1,
	}
}

func (a *API) handleJoin(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("addr")
	if strings.TrimSpace(addr) == "" {
		a.fail(w, r, http.StatusBadRequest, errors.New("missing address to join"))
		return
	}
	if _, err := a.mesh.Join([]string{addr}); err != nil {
		a.fail(w, r, joinStatus(err), err)
		return
	}
}

// joinStatus answers a failed join: 400 for an address that is malformed
// or does not resolve (the caller's mistake), 502 when no agent answered
// there (or one answered with gossip this node cannot decrypt), 500
// otherwise.
func joinStatus(err error) int {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, gossip.ErrBadAddress), errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return http.StatusBadRequest
	case errors.Is(err, gossip.ErrNoAnswer), errors.Is(err, gossip.ErrWrongKey):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

func (a *API) handleLeave(w http.ResponseWriter, r *http.Request) {
	if err := a.mesh.Leave(); err != nil {
		a.fail(w, r, http.StatusInternalServerError, err)
	}
}

func (a *API) handleForceLeave(w http.ResponseWriter, r *http.Request) {
	_, prune := r.URL.Query()["prune"] // as Consul: present, whatever its value
	if err := a.mesh.ForceLeave(r.PathValue("node"), prune); err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
	}
}

func (a *API) handleKeyring(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var key string
		if op != gossip.KeyringList {
			var body api.KeyringRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil || body.Key == "" {
				a.fail(w, r, http.StatusBadRequest, errors.New(`keyring: body must be {"Key": "<base64 key>"}`))
				return
			}
			key = body.Key
		}
		ctx, cancel := context.WithTimeout(r.Context(), keyringTimeout)
		defer cancel()
		replies, err := a.mesh.Keyring(ctx, op, key)
		if err != nil {
			a.fail(w, r, http.StatusBadRequest, err)
			return
		}
		resp := api.KeyringResponse{
			Datacenter: a.self().Datacenter, Keys: map[string]int{}, PrimaryKeys: map[string]int{},
			NumNodes: len(replies), Messages: map[string]string{}, Nodes: keyringReplies(replies),
		}
		failed := false
		for _, rep := range replies {
			for _, k := range rep.Keys {
				resp.Keys[k]++
			}
			if rep.Primary != "" {
				resp.PrimaryKeys[rep.Primary]++
			}
			if rep.Error != "" {
				resp.Messages[rep.Node] = rep.Error
				failed = true
			}
		}
		if op == gossip.KeyringList {
			writeJSON(w, []api.KeyringResponse{resp})
			return
		}
		if failed {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode([]api.KeyringResponse{resp})
			return
		}
		writeJSON(w, []api.KeyringResponse{resp})
	}
}

// keyringReplies converts the mesh's keyring replies to the API's.
func keyringReplies(rs []gossip.KeyringReply) []api.KeyringReply {
	if rs == nil {
		return nil
	}
	out := make([]api.KeyringReply, len(rs))
	for i, r := range rs {
		out[i] = api.KeyringReply{ID: r.ID, Node: r.Node, Error: r.Error, Keys: r.Keys, Primary: r.Primary}
	}
	return out
}
