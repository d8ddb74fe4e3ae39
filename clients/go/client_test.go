package codeact

// The Go client against a live stack: `codeact-server up` from the
// repository's virtualenv (real servers, real jails) and an
// OpenAI-compatible stub for the model, the only fake.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	v1 "codeact.dev/client/codeactv1"
)

var (
	addresses = map[string]string{}
	keys      = map[string]string{"acme": "go-acme-key", "globex": "go-globex-key"}
	model     = &modelStub{}
)

type toolCall struct {
	Name      string
	Arguments map[string]interface{}
}

type modelStub struct {
	mu      sync.Mutex
	replies []toolCall
}

func (m *modelStub) script(calls ...toolCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replies = append(m.replies, calls...)
}

func (m *modelStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	call := toolCall{"finish", map[string]interface{}{"answer": "(nothing scripted)"}}
	if len(m.replies) > 0 {
		call, m.replies = m.replies[0], m.replies[1:]
	}
	m.mu.Unlock()
	arguments, _ := json.Marshal(call.Arguments)
	reply := map[string]interface{}{
		"id": "chatcmpl-go", "object": "chat.completion", "created": time.Now().Unix(), "model": "stub",
		"choices": []interface{}{map[string]interface{}{
			"index": 0, "finish_reason": "tool_calls",
			"message": map[string]interface{}{
				"role": "assistant", "content": nil,
				"tool_calls": []interface{}{map[string]interface{}{
					"id": "call_1", "type": "function",
					"function": map[string]interface{}{"name": call.Name, "arguments": string(arguments)},
				}},
			},
		}},
		"usage": map[string]int{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	}
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

func freePort() int {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	root, _ := filepath.EvalSymlinks(filepath.Dir(file))
	return filepath.Join(root, "..", "..")
}

func TestMain(m *testing.M) {
	stub := httptest.NewServer(model)
	root := os.Getenv("CODEACT_REPO")
	if root == "" {
		root = repoRoot()
	}
	state, _ := os.MkdirTemp("", "codeact-go-")
	_ = os.Chmod(state, 0o711) // jails run as other users and must traverse it
	python := filepath.Join(root, ".venv", "bin", "python")
	cmd := exec.Command(python, "-m", "services.launcher", "up")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("CODEACT_API_KEYS=acme:%s,globex:%s", keys["acme"], keys["globex"]),
		"CODEACT_LOG_LEVEL=warning",
		"CODEACT_AUDIT_FILE=/dev/null",
		"CODEACT_EXECUTOR_STATE_DIR="+state,
		"CODEACT_EXECUTOR_INSTANCE=go",
		"CODEACT_EXECUTOR_POOL_SIZE=1",
		"CODEACT_MEMORY_DSN=sqlite://"+filepath.Join(state, "memory.db"),
		"CODEACT_PLANNER_LLM_BASE_URL="+stub.URL+"/v1",
	)
	for _, name := range []string{"agent", "planner", "policy", "executor", "memory"} {
		port := freePort()
		addresses[name] = fmt.Sprintf("127.0.0.1:%d", port)
		upper := strings.ToUpper(name)
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("CODEACT_%s_PORT=%d", upper, port),
			fmt.Sprintf("CODEACT_%s_METRICS_PORT=-1", upper))
	}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the stack:", err)
		os.Exit(1)
	}
	up := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "services up") {
			up = true
			break
		}
	}
	go func() { // keep reading the banner so the launcher never blocks
		for lines.Scan() {
		}
	}()
	code := 1
	if up {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "codeact-server up did not start")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	stub.Close()
	_ = os.RemoveAll(state)
	os.Exit(code)
}

func dial(t *testing.T, service, tenant string) *Client {
	t.Helper()
	client, err := Dial(addresses[service], Options{Token: keys[tenant]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func TestASessionKeepsItsState(t *testing.T) {
	ctx := context.Background()
	client := dial(t, "executor", "acme")
	session, err := client.CreateSession(ctx, &v1.SandboxLimits{MemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Delete(ctx)
	if _, err := session.Run(ctx, "x = 41"); err != nil {
		t.Fatal(err)
	}
	cell, err := session.Run(ctx, "print(x + 1)\nx * 2")
	if err != nil {
		t.Fatal(err)
	}
	if cell.Stdout != "42\n" || cell.Result != "82" {
		t.Fatalf("got %+v", cell)
	}
	raised, _ := session.Run(ctx, "undefined_name")
	if raised.Error != "NameError: name 'undefined_name' is not defined" {
		t.Fatalf("got %q", raised.Error)
	}
}

func TestAnotherTenantsSessionIsNotFound(t *testing.T) {
	ctx := context.Background()
	mine := dial(t, "executor", "acme")
	theirs := dial(t, "executor", "globex")
	session, err := mine.CreateSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Delete(ctx)
	_, err = theirs.Executor.GetSession(ctx, &v1.GetSessionRequest{SessionId: session.ID()})
	failed := AsError(err)
	if failed == nil || failed.Code != codes.NotFound || failed.Reason != "SESSION_NOT_FOUND" {
		t.Fatalf("got %v", err)
	}
}

func TestAWrongKeyIsUnauthenticated(t *testing.T) {
	client, err := Dial(addresses["executor"], Options{Token: "not-a-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, err = client.CreateSession(context.Background(), nil)
	failed := AsError(err)
	if failed == nil || failed.Code != codes.Unauthenticated || failed.Reason != "API_KEY_INVALID" {
		t.Fatalf("got %v", err)
	}
}

func TestALimitAboveTheCeilingNamesTheField(t *testing.T) {
	client := dial(t, "executor", "acme")
	_, err := client.CreateSession(context.Background(), &v1.SandboxLimits{MemoryBytes: 1 << 40})
	failed := AsError(err)
	if failed == nil || failed.Reason != "LIMIT_ABOVE_CEILING" || failed.Metadata["field"] != "limits.memory_bytes" {
		t.Fatalf("got %v", err)
	}
}

func TestThePolicyServiceChecksCode(t *testing.T) {
	client := dial(t, "policy", "acme")
	denied, err := client.Check(context.Background(), "import subprocess\nsubprocess.run(['id'])", "strict")
	if err != nil {
		t.Fatal(err)
	}
	if denied.GetDecision() != v1.Decision_DECISION_DENY || len(denied.GetFindings()) == 0 {
		t.Fatalf("got %v", denied)
	}
}

func TestTheMemoryServiceKeepsAConversation(t *testing.T) {
	ctx := context.Background()
	client := dial(t, "memory", "acme")
	made, err := client.Memory.CreateConversation(ctx, &v1.CreateConversationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := made.GetConversation().GetId()
	event := &v1.Event{Payload: &v1.Event_UserMessage{UserMessage: &v1.UserMessage{Text: "hello"}}}
	if _, err := client.Memory.AppendEvents(ctx, &v1.AppendEventsRequest{ConversationId: id, Events: []*v1.Event{event}}); err != nil {
		t.Fatal(err)
	}
	listed, err := client.Memory.ListEvents(ctx, &v1.ListEventsRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.GetEvents()) != 1 || listed.GetEvents()[0].GetUserMessage().GetText() != "hello" {
		t.Fatalf("got %v", listed)
	}
}

func TestTheAgentRunsATask(t *testing.T) {
	ctx := context.Background()
	client := dial(t, "agent", "acme")
	model.script(
		toolCall{"execute_python", map[string]interface{}{"code": "print(2 ** 10)"}},
		toolCall{"finish", map[string]interface{}{"answer": "1024"}},
	)
	made, err := client.Agent.CreateAgentSession(ctx, &v1.CreateAgentSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := made.GetSession().GetId()
	defer client.Agent.DeleteAgentSession(ctx, &v1.DeleteAgentSessionRequest{SessionId: id})
	output := ""
	end, err := client.RunTask(ctx, id, "What is 2 ** 10?", func(event *v1.RunTaskResponse) {
		output += event.GetOutput().GetText()
	})
	if err != nil {
		t.Fatal(err)
	}
	if end.GetOutcome() != v1.TaskOutcome_TASK_OUTCOME_FINISHED || output != "1024\n" {
		t.Fatalf("end %v, output %q", end, output)
	}
}

func TestTheExampleRuns(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(".")
	cmd := exec.Command("go", "run", "./example", addresses["executor"])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CODEACT_API_KEY="+keys["acme"])
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "42\n" {
		t.Fatalf("err %v, output %q", err, out)
	}
}
