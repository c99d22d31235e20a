// Package prompt asks a person at a terminal: a password typed twice
// without echo, a yes or no, or the first line of a pipe when there is no
// terminal. The idvauth CLI uses it; it knows nothing of idvauth.
package prompt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// MaxLine bounds the line Line reads (a password, a token). The server's
// policy sets the real limit; this only keeps a wrong pipe from being read
// whole.
const MaxLine = 1024

// Terminal returns the file descriptor of r if r is a terminal.
func Terminal(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Line reads the first line of r, without its \n or \r\n.
func Line(r io.Reader) (string, error) {
	// +2 for the line ending, +1 to see a line that is too long.
	line, err := bufio.NewReader(io.LimitReader(r, MaxLine+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case line == "":
		return "", errors.New("no password on stdin: give it as the first line of stdin, or run in a terminal to be prompted")
	case len(line) > MaxLine:
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", MaxLine)
	}
	return line, nil
}

// Password asks for the password twice on the terminal fd, without
// echo. An interrupt restores the terminal (echo on) and ends the command
// instead of leaving the terminal silent.
func Password(ctx context.Context, fd int, w io.Writer, username string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the password from the terminal: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	type result struct {
		password string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := askTwice(fd, w, username)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		return r.password, r.err
	case <-ctx.Done():
		// The read goroutine stays blocked on the terminal; the process
		// is about to exit.
		_ = term.Restore(fd, state)
		fmt.Fprintln(w)
		return "", errors.New("interrupted: no user created")
	}
}

func askTwice(fd int, w io.Writer, username string) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(w, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(w) // the Enter the terminal did not echo
		if err != nil {
			return "", fmt.Errorf("read the password from the terminal: %w", err)
		}
		return string(b), nil
	}
	pw, err := read("Password for " + username + ": ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password: no user created")
	}
	again, err := read("Repeat the password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match: no user created")
	}
	return pw, nil
}

// Confirm asks question on w and reads the answer from r, a terminal:
// true for y or yes (any case), false for anything else.
func Confirm(r io.Reader, w io.Writer, question string) (bool, error) {
	fmt.Fprintf(w, "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(r, 64)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ReadPassword returns the new user's password: the first line of stdin
// when asked to or when stdin is not a terminal, otherwise typed twice at
// a prompt on stderr without echo.
func ReadPassword(ctx context.Context, in io.Reader, w io.Writer, username string, fromStdin bool) (string, error) {
	fd, tty := Terminal(in)
	switch {
	case fromStdin && tty:
		return "", errors.New("--password-stdin: stdin is a terminal; pipe the password in, or leave out --password-stdin to be prompted")
	case tty:
		return Password(ctx, fd, w, username)
	}
	return Line(in)
}
