// Package codeact is a small Go client of the CodeAct platform: one
// connection with the token and TLS settings, the generated service clients
// (package codeactv1), and helpers for sandboxed sessions and errors.
package codeact

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	v1 "codeact.dev/client/codeactv1"
)

// TLSOptions turn TLS on: the CA of the server and, for mutual TLS, the
// client's certificate and key (PEM files).
type TLSOptions struct {
	CAFile, CertFile, KeyFile string
	// ServerName is the name expected in the server certificate, if not the target's host.
	ServerName string
}

// Options of a connection.
type Options struct {
	// Token is the bearer API key; empty reads $CODEACT_API_KEY.
	Token string
	TLS   *TLSOptions
	// Timeout of the helpers' unary calls (default 30 s).
	Timeout time.Duration
}

// Client holds one connection and a client per service.
type Client struct {
	conn     *grpc.ClientConn
	timeout  time.Duration
	Executor v1.ExecutorServiceClient
	Policy   v1.PolicyServiceClient
	Memory   v1.MemoryServiceClient
	Planner  v1.PlannerServiceClient
	Agent    v1.AgentServiceClient
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b.token == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Dial connects to target ("host:port").
func Dial(target string, opts Options) (*Client, error) {
	token := opts.Token
	if token == "" {
		token = os.Getenv("CODEACT_API_KEY")
	}
	transport := grpc.WithInsecure() // grpc-go 1.33 (Debian's) has no credentials/insecure
	if opts.TLS != nil {
		config, err := tlsConfig(opts.TLS)
		if err != nil {
			return nil, err
		}
		transport = grpc.WithTransportCredentials(credentials.NewTLS(config))
	}
	conn, err := grpc.Dial(target,
		transport,
		grpc.WithPerRPCCredentials(bearer{token, opts.TLS != nil}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
	)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &Client{
		conn:     conn,
		timeout:  timeout,
		Executor: v1.NewExecutorServiceClient(conn),
		Policy:   v1.NewPolicyServiceClient(conn),
		Memory:   v1.NewMemoryServiceClient(conn),
		Planner:  v1.NewPlannerServiceClient(conn),
		Agent:    v1.NewAgentServiceClient(conn),
	}, nil
}

func tlsConfig(opts *TLSOptions) (*tls.Config, error) {
	config := &tls.Config{ServerName: opts.ServerName, MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", opts.CAFile)
		}
		config.RootCAs = pool
	}
	if opts.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Error is a failed call: the gRPC code and the ErrorInfo reason and
// metadata, plus RetryInfo's delay when the server gave one.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Metadata   map[string]string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %s", e.Code, e.Reason, e.Message) }

// AsError reads the rich status of a failed call (nil for nil).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var known *Error
	if errors.As(err, &known) {
		return known
	}
	st := status.Convert(err)
	out := &Error{Code: st.Code(), Reason: st.Code().String(), Message: st.Message()}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			out.Reason, out.Metadata = d.GetReason(), d.GetMetadata()
		case *errdetails.RetryInfo:
			out.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return out
}

// Session is a sandboxed, stateful interpreter.
type Session struct {
	client *Client
	Info   *v1.Session
}

// CellResult is what a cell printed, returned and raised.
type CellResult struct {
	Stdout, Stderr string
	// Result is the repr of the cell's last expression, if any.
	Result string
	// Error is "NameError: name 'x' is not defined" if the cell raised.
	Error string
}

// CreateSession starts a session; nil limits take the server's defaults.
func (c *Client) CreateSession(ctx context.Context, limits *v1.SandboxLimits) (*Session, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	reply, err := c.Executor.CreateSession(ctx, &v1.CreateSessionRequest{Limits: limits})
	if err != nil {
		return nil, AsError(err)
	}
	return &Session{client: c, Info: reply.GetSession()}, nil
}

// ID of the session.
func (s *Session) ID() string { return s.Info.GetId() }

// Stream runs a cell and calls fn with each event as it happens.
func (s *Session) Stream(ctx context.Context, code string, fn func(*v1.ExecuteResponse)) error {
	stream, err := s.client.Executor.Execute(ctx, &v1.ExecuteRequest{SessionId: s.ID(), Code: code})
	if err != nil {
		return AsError(err)
	}
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return AsError(err)
		}
		fn(event)
	}
}

// Run runs a cell and gathers its output.
func (s *Session) Run(ctx context.Context, code string) (*CellResult, error) {
	out := &CellResult{}
	err := s.Stream(ctx, code, func(event *v1.ExecuteResponse) {
		switch {
		case event.GetOutput() != nil:
			if event.GetOutput().GetName() == v1.StreamName_STREAM_NAME_STDERR {
				out.Stderr += event.GetOutput().GetText()
			} else {
				out.Stdout += event.GetOutput().GetText()
			}
		case event.GetResult() != nil:
			out.Result = event.GetResult().GetData().GetText()["text/plain"]
		case event.GetError() != nil:
			out.Error = event.GetError().GetEname() + ": " + event.GetError().GetEvalue()
		}
	})
	return out, err
}

// Delete ends the session.
func (s *Session) Delete(ctx context.Context) error {
	ctx, cancel := s.client.unary(ctx)
	defer cancel()
	_, err := s.client.Executor.DeleteSession(ctx, &v1.DeleteSessionRequest{SessionId: s.ID()})
	return AsError(err)
}

// Check asks the policy service about code under a profile ("" for the default).
func (c *Client) Check(ctx context.Context, code, profile string) (*v1.CheckCodeResponse, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	request := &v1.CheckCodeRequest{Code: code}
	if profile != "" {
		request.Profile = &v1.CheckCodeRequest_ProfileName{ProfileName: profile}
	}
	reply, err := c.Policy.CheckCode(ctx, request)
	if err != nil {
		return nil, AsError(err)
	}
	return reply, nil
}

// RunTask gives the agent session a task and calls fn with each event; it
// returns the TaskEnd.
func (c *Client) RunTask(ctx context.Context, sessionID, task string, fn func(*v1.RunTaskResponse)) (*v1.TaskEnd, error) {
	stream, err := c.Agent.RunTask(ctx, &v1.RunTaskRequest{SessionId: sessionID, Task: task})
	if err != nil {
		return nil, AsError(err)
	}
	var end *v1.TaskEnd
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			return end, nil
		}
		if err != nil {
			return end, AsError(err)
		}
		if event.GetEnd() != nil {
			end = event.GetEnd()
		}
		if fn != nil {
			fn(event)
		}
	}
}
