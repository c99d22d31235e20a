package adminapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// This file holds the audit calls that span several requests or write
// files: what the CLI's audit verify and export need.

// VerifyAuditAll verifies the audit trail from from to its end in
// requests of page entries, handing each answer as sent to each (nil:
// none), and returns the sum of the parts.
func (c *Client) VerifyAuditAll(ctx context.Context, from string, page int64, each func(raw []byte) error) (AuditVerification, error) {
	var total AuditVerification
	for next := from; ; {
		v, raw, err := c.VerifyAudit(ctx, next, page)
		if err != nil {
			return total, err
		}
		if each != nil {
			if err := each(raw); err != nil {
				return total, err
			}
		}
		if total.FirstSeq == 0 {
			total.FirstSeq = v.FirstSeq
		}
		total.OK, total.Complete, total.Entries = v.OK, v.Complete, total.Entries+v.Entries
		total.LastSeq, total.LastHash, total.BrokenAt, total.Reason = v.LastSeq, v.LastHash, v.BrokenAt, v.Reason
		if !v.OK || v.Complete {
			return total, nil
		}
		n := fmt.Sprintf("%d:%s", v.LastSeq, v.LastHash)
		if v.Entries == 0 || n == next {
			return total, errors.New("the admin API's verification made no progress; is the server older than this command?")
		}
		next = n
	}
}

// WriteAuditLines writes the entries of q (at most limit; 0: all) as JSON
// lines, each as the admin API sent it.
func (c *Client) WriteAuditLines(ctx context.Context, out io.Writer, q AuditQuery, limit int) error {
	w := bufio.NewWriter(out)
	_, err := c.ListAudit(ctx, q, limit, jsonLine(w))
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// jsonLine writes each entry, as the admin API sent it, on a line of w.
func jsonLine(w io.Writer) func(AuditEntryJSON, json.RawMessage) error {
	var buf bytes.Buffer
	return func(_ AuditEntryJSON, raw json.RawMessage) error { return WriteJSONLine(w, &buf, raw) }
}

// WriteJSONLine writes raw, compacted, on a line of w, through buf.
func WriteJSONLine(w io.Writer, buf *bytes.Buffer, raw []byte) error {
	buf.Reset()
	if err := json.Compact(buf, raw); err != nil {
		return fmt.Errorf("unexpected admin API answer: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// ExportAudit writes the entries of q as JSON lines to a new file at path
// (readable by its owner only), or over an existing one if force; an
// existing file without force is an error that wraps fs.ErrExist. A
// failed export leaves no file behind.
func (c *Client) ExportAudit(ctx context.Context, q AuditQuery, path string, force bool) (n int, err error) {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			if rerr := os.Remove(path); rerr == nil {
				err = fmt.Errorf("%w (the partial export %s was removed)", err, path)
			}
		}
	}()
	if force {
		// An existing file keeps its mode through O_TRUNC.
		if err := f.Chmod(0o600); err != nil {
			return 0, err
		}
	}
	w := bufio.NewWriter(f)
	if n, err = c.ListAudit(ctx, q, 0, jsonLine(w)); err != nil {
		return n, err
	}
	if err := w.Flush(); err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, f.Close()
}
