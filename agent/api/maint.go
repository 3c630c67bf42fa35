package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// EnableNodeMaintenance puts the node in maintenance: a critical check
// _node_maintenance whose notes are reason (Consul's default text when
// empty). Enabling it again keeps the first reason.
func (c *Client) EnableNodeMaintenance(ctx context.Context, reason string) error {
	return c.maintenance(ctx, "/v1/agent/maintenance", true, reason)
}

// DisableNodeMaintenance takes the node out of maintenance.
func (c *Client) DisableNodeMaintenance(ctx context.Context) error {
	return c.maintenance(ctx, "/v1/agent/maintenance", false, "")
}

// EnableServiceMaintenance puts service id in maintenance: a critical
// check _service_maintenance:<id>. An unknown service is a 404
// *StatusError.
func (c *Client) EnableServiceMaintenance(ctx context.Context, id, reason string) error {
	return c.maintenance(ctx, "/v1/agent/service/maintenance/"+url.PathEscape(id), true, reason)
}

// DisableServiceMaintenance takes service id out of maintenance.
func (c *Client) DisableServiceMaintenance(ctx context.Context, id string) error {
	return c.maintenance(ctx, "/v1/agent/service/maintenance/"+url.PathEscape(id), false, "")
}

func (c *Client) maintenance(ctx context.Context, path string, enable bool, reason string) error {
	q := url.Values{"enable": {strconv.FormatBool(enable)}}
	if reason != "" {
		q.Set("reason", reason)
	}
	return c.do(ctx, request{method: http.MethodPut, path: path, query: q}, nil)
}
