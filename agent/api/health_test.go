package api_test

import (
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestDiscovery(t *testing.T) {
	a := apitest.Start(t)
	ctx := t.Context()
	for _, reg := range []api.AgentServiceRegistration{
		{ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v1"}, Check: &api.AgentServiceCheck{TTL: "1m", Status: "passing"}},
		{ID: "web-2", Name: "web", Port: 8081, Tags: []string{"v2"}, Check: &api.AgentServiceCheck{TTL: "1m"}},
		{ID: "db", Name: "db", Port: 5432},
	} {
		if err := a.Client.ServiceRegister(ctx, reg); err != nil {
			t.Fatal(err)
		}
	}
	services, err := a.Client.CatalogServices(ctx)
	if err != nil || len(services) != 2 || len(services["web"]) != 2 || len(services["db"]) != 0 {
		t.Fatalf("CatalogServices = %v, %v", services, err)
	}
	all, err := a.Client.HealthService(ctx, "web", api.ServiceQuery{})
	if err != nil || len(all) != 2 || all[0].Service.ID != "web-1" || all[0].Node.Node != apitest.NodeName ||
		all[0].Checks[0].CheckID != "serfHealth" {
		t.Fatalf("HealthService(web) = %+v, %v", all, err)
	}
	passing, err := a.Client.HealthService(ctx, "web", api.ServiceQuery{Passing: true})
	if err != nil || len(passing) != 1 || passing[0].Service.ID != "web-1" {
		t.Fatalf("HealthService(web, passing) = %+v, %v", passing, err)
	}
	tagged, err := a.Client.HealthService(ctx, "web", api.ServiceQuery{Tags: []string{"v2"}, NodeMeta: map[string]string{"site": apitest.Site}})
	if err != nil || len(tagged) != 1 || tagged[0].Service.ID != "web-2" {
		t.Fatalf("HealthService(web, tag v2) = %+v, %v", tagged, err)
	}
	none, err := a.Client.HealthService(ctx, "nothing", api.ServiceQuery{})
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("HealthService(nothing) = %+v, %v; want an empty list", none, err)
	}
}
