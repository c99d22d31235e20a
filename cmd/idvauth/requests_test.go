package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// TestRequests drives four-eyes from the command line against a live
// server with IDVAUTH_FOUR_EYES=on: an erasure is held (the command fails
// and says how to approve; -o json prints the request), requests list and
// get show it, approving one's own is refused with the server's reason,
// rejecting (withdrawing) it ends it, and the person is still there.
func TestRequests(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_FOUR_EYES": "on"})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	username := "ada-" + randHex(t)
	if code, _, errOut := cliStdin(t, env, "analytical engine "+randHex(t)+"\n", "users", "create", "--username", username); code != 0 {
		t.Fatalf("users create = exit %d, %q", code, errOut)
	}
	id := tableRows(mustCLI(t, env, "users", "get", username))["id"]

	code, out, errOut := cli(t, env, "users", "erase", id, "--yes")
	if code == 0 || out != "" || !strings.Contains(errOut, "four-eyes: user.erase of "+id+" is held as request req_") ||
		!strings.Contains(errOut, "idvauth requests approve req_") {
		t.Fatalf("users erase under four-eyes = exit %d, stdout %q, stderr %q; want a failure saying it is held and how to approve", code, out, errOut)
	}
	code, out, _ = cli(t, env, "clients", "delete", "nope-"+randHex(t), "-o", "json")
	if code == 0 || out != "" {
		t.Errorf("clients delete of no client = exit %d, stdout %q; want a failure (not held: the route's 404)", code, out)
	}
	code, out, _ = cli(t, env, "users", "erase", id, "--yes", "-o", "json")
	var held adminapi.RequestJSON
	if code == 0 || json.Unmarshal([]byte(out), &held) != nil || held.State != adminapi.RequestPending || held.Target != id {
		t.Fatalf("users erase -o json under four-eyes = exit %d, stdout %q; want a failure and the pending request", code, out)
	}

	var list adminapi.RequestList
	if err := json.Unmarshal([]byte(mustCLI(t, env, "requests", "list", "--state", "pending", "-o", "json")), &list); err != nil || len(list.Requests) != 2 {
		t.Fatalf("requests list --state pending = %+v, %v; want the two erasures", list, err)
	}
	if table := mustCLI(t, env, "requests", "list"); !strings.Contains(table, "REQUESTED BY") || !strings.Contains(table, held.ID) {
		t.Errorf("requests list =\n%s\nwant a table with %s", table, held.ID)
	}
	if rows := tableRows(mustCLI(t, env, "requests", "get", held.ID)); rows["action"] != adminapi.ActionUserErase || rows["state"] != "pending" ||
		rows["requested by"] != "break-glass" {
		t.Errorf("requests get = %q", rows)
	}
	if code, _, errOut := cli(t, env, "requests", "list", "--state", "maybe"); code != clikit.ExitUsage || !strings.Contains(errOut, "--state must be one of") {
		t.Errorf("requests list --state maybe = exit %d, %q; want a usage error", code, errOut)
	}

	// The break-glass token never approves: a second pair of eyes is an
	// operator's own.
	code, out, errOut = cli(t, env, "requests", "approve", held.ID)
	if code == 0 || out != "" || !strings.Contains(errOut, "operator_required") {
		t.Errorf("requests approve with the break-glass token = exit %d, stdout %q, stderr %q; want operator_required", code, out, errOut)
	}
	var d2 adminapi.RequestDecision
	if err := json.Unmarshal([]byte(mustCLI(t, env, "requests", "reject", held.ID, "-o", "json")), &d2); err != nil ||
		d2.Request.State != adminapi.RequestRejected || d2.Request.DecidedBy != "break-glass" {
		t.Errorf("requests reject = %+v, %v; want rejected", d2, err)
	}
	if code, _, errOut := cli(t, env, "requests", "reject", held.ID); code == 0 || !strings.Contains(errOut, "request_decided") {
		t.Errorf("second reject = exit %d, %q; want request_decided", code, errOut)
	}
	if code, _, errOut := cli(t, env, "requests", "get", "req_nope"); code == 0 || !strings.Contains(errOut, "not_found") {
		t.Errorf("requests get req_nope = exit %d, %q; want not_found", code, errOut)
	}
	if rows := tableRows(mustCLI(t, env, "users", "get", id)); rows["id"] != id {
		t.Errorf("users get after the held erasures = %q, want the person still there", rows)
	}
}
