//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestUsersCreatePrompt runs `users create` with a pseudo-terminal as
// stdin: the password is asked for twice on stderr, the terminal does not
// echo it, and an interrupt leaves the terminal echoing again.
func TestUsersCreatePrompt(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	password := "analytical engine " + randHex(t)
	first := func(username string) string { return "Password for " + username + ": " }
	const second = "Repeat the password: "

	t.Run("typed twice", func(t *testing.T) {
		t.Parallel()
		master, tty := openPTY(t)
		username := "ada-" + randHex(t)
		c := startCLI(t, t.Context(), env, tty, "users", "create", "--username", username, "-o", "json")
		c.waitPrompt(t, tty, first(username))
		writeTTY(t, master, password+"\n")
		c.waitPrompt(t, tty, second)
		writeTTY(t, master, password+"\n")
		<-c.done
		if c.code != 0 {
			t.Fatalf("users create at a terminal = exit %d, stderr %q; want 0", c.code, redactPassword(c.stderr.String(), password))
		}
		if got, want := c.stderr.String(), first(username)+"\n"+second+"\n"; got != want {
			t.Errorf("users create at a terminal wrote %q on stderr, want the two prompts %q", redactPassword(got, password), want)
		}
		var u adminapi.UserJSON
		decodeJSON(t, "users create -o json", c.stdout.String(), &u)
		if u.Username != username || strings.Contains(c.stdout.String(), password) {
			t.Errorf("users create at a terminal printed username %q, the password %t; want %s, no password",
				u.Username, strings.Contains(c.stdout.String(), password), username)
		}
		if echoed := drainTTY(t, master); strings.Contains(echoed, password) {
			t.Errorf("the terminal echoed the password: %q", redactPassword(echoed, password))
		}
	})

	t.Run("typed differently", func(t *testing.T) {
		t.Parallel()
		master, tty := openPTY(t)
		username := "ada-" + randHex(t)
		c := startCLI(t, t.Context(), env, tty, "users", "create", "--username", username)
		c.waitPrompt(t, tty, first(username))
		writeTTY(t, master, password+"\n")
		c.waitPrompt(t, tty, second)
		writeTTY(t, master, password+"x\n")
		<-c.done
		want := first(username) + "\n" + second + "\nError: the passwords do not match: no user created\n"
		if c.code == 0 || c.stdout.String() != "" || c.stderr.String() != want {
			t.Errorf("users create with two different passwords = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q",
				c.code, c.stdout.String(), redactPassword(c.stderr.String(), password), want)
		}
		if echoed := drainTTY(t, master); strings.Contains(echoed, password) {
			t.Errorf("the terminal echoed the password: %q", redactPassword(echoed, password))
		}
	})

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		master, tty := openPTY(t)
		username := "ada-" + randHex(t)
		c := startCLI(t, t.Context(), env, tty, "users", "create", "--username", username)
		c.waitPrompt(t, tty, first(username))
		writeTTY(t, master, "\n")
		<-c.done
		if want := first(username) + "\nError: empty password: no user created\n"; c.code == 0 || c.stderr.String() != want {
			t.Errorf("users create with an empty password = exit %d, stderr %q; want non-zero, %q", c.code, c.stderr.String(), want)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		master, tty := openPTY(t)
		username := "ada-" + randHex(t)
		ctx, cancel := context.WithCancel(t.Context())
		c := startCLI(t, ctx, env, tty, "users", "create", "--username", username)
		c.waitPrompt(t, tty, first(username))
		cancel()
		<-c.done
		if want := first(username) + "\nError: interrupted: no user created\n"; c.code == 0 || c.stderr.String() != want {
			t.Errorf("users create interrupted at the prompt = exit %d, stderr %q; want non-zero, %q", c.code, c.stderr.String(), want)
		}
		if !echoOn(t, tty) {
			t.Error("users create interrupted at the prompt left the terminal without echo")
		}
		// The abandoned read goes on (a real interrupt ends the process).
		// Let it finish before the terminal is closed and its descriptor
		// reused: it restores echo once it has read a line.
		setEcho(t, tty, false)
		writeTTY(t, master, "\n")
		waitFor(t, "the abandoned read to finish", nil, func() bool { return echoOn(t, tty) })
	})

	t.Run("--password-stdin at a terminal", func(t *testing.T) {
		t.Parallel()
		_, tty := openPTY(t)
		c := startCLI(t, t.Context(), env, tty, "users", "create", "--username", "ada-"+randHex(t), "--password-stdin")
		<-c.done
		want := "Error: --password-stdin: stdin is a terminal; pipe the password in, or leave out --password-stdin to be prompted\n"
		if c.code == 0 || c.stdout.String() != "" || c.stderr.String() != want {
			t.Errorf("users create --password-stdin at a terminal = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q",
				c.code, c.stdout.String(), c.stderr.String(), want)
		}
	})
}

// runningCLI is one run of the CLI in a goroutine of the test.
type runningCLI struct {
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int // valid once done is closed
}

// startCLI runs the CLI with stdin until it returns; the test waits for it.
func startCLI(t testing.TB, ctx context.Context, env map[string]string, stdin *os.File, args ...string) *runningCLI {
	t.Helper()
	c := &runningCLI{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.code = run(ctx, args, envOf(env), stdin, c.stdout, c.stderr)
	}()
	t.Cleanup(func() { <-c.done })
	return c
}

// waitPrompt waits until stderr ends with prompt and the terminal has
// stopped echoing: then the command is reading the password.
func (c *runningCLI) waitPrompt(t testing.TB, tty *os.File, prompt string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the prompt %q", prompt), c.done, func() bool {
		return strings.HasSuffix(c.stderr.String(), prompt) && !echoOn(t, tty)
	})
}

// openPTY opens a pseudo-terminal: master is what the person types into,
// tty is the command's terminal.
func openPTY(t testing.TB) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		unavailable(t, "no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	var n uint32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

// ioctl calls ioctl(2) on f without putting f in blocking mode.
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// echoOn reports whether the terminal echoes what is typed.
func echoOn(t testing.TB, tty *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	if err := ioctl(tty, syscall.TCGETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("terminal state: %v", err)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// setEcho turns the terminal's echo on or off.
func setEcho(t testing.TB, tty *os.File, on bool) {
	t.Helper()
	var tio syscall.Termios
	if err := ioctl(tty, syscall.TCGETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("terminal state: %v", err)
	}
	tio.Lflag &^= syscall.ECHO
	if on {
		tio.Lflag |= syscall.ECHO
	}
	if err := ioctl(tty, syscall.TCSETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("set the terminal state: %v", err)
	}
}

func writeTTY(t testing.TB, master *os.File, s string) {
	t.Helper()
	if _, err := master.WriteString(s); err != nil {
		t.Fatalf("type at the terminal: %v", err)
	}
}

// drainTTY returns everything the terminal has shown so far: it types an
// end marker (the command is done, so the terminal echoes again) and
// reads up to its echo.
func drainTTY(t testing.TB, master *os.File) string {
	t.Helper()
	const marker = "end-of-test-marker"
	writeTTY(t, master, marker+"\n")
	if err := master.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatalf("pseudo-terminal without deadlines: %v", err)
	}
	var shown strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(shown.String(), marker) {
		n, err := master.Read(buf)
		shown.Write(buf[:n])
		if err != nil {
			t.Fatalf("read what the terminal showed (%q so far): %v", redact(shown.String()), err)
		}
	}
	return shown.String()
}

// TestConfirmOnTerminal runs a destructive command with a pseudo-terminal
// as stdin: it asks first, and does nothing unless the answer is yes.
func TestConfirmOnTerminal(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	const prompt = "Delete client demo-resource-server? This cannot be undone. [y/N] "
	for _, tt := range []struct {
		answer  string
		deleted bool
	}{{"n\n", false}, {"\n", false}, {"yes\n", true}} {
		master, tty := openPTY(t)
		c := startCLI(t, t.Context(), env, tty, "clients", "delete", "demo-resource-server")
		waitFor(t, "the confirmation prompt", c.done, func() bool { return strings.HasSuffix(c.stderr.String(), prompt) })
		writeTTY(t, master, tt.answer)
		<-c.done
		if got := c.code == 0; got != tt.deleted {
			t.Errorf("clients delete answered %q = exit %d, stderr %q; want deleted %t", tt.answer, c.code, c.stderr.String(), tt.deleted)
		}
		code, _, _ := cli(t, env, "clients", "get", "demo-resource-server")
		if exists := code == 0; exists == tt.deleted {
			t.Errorf("after answering %q the client exists: %t, want %t", tt.answer, exists, !tt.deleted)
		}
	}
}
