package adminapi

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteAPIKey prints a key, with the key itself (and the note that it is
// shown once) when the answer holds it.
func WriteAPIKey(w io.Writer, k APIKeyJSON) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", k.ID)
	if k.Key != "" {
		fmt.Fprintf(tw, "key\t%s\t(shown once: store it now)\n", k.Key)
	}
	fmt.Fprintf(tw, "client_id\t%s\nname\t%s\nscope\t%s\n", k.ClientID, k.Name, cell(k.Scope))
	fmt.Fprintf(tw, "audience\t%s\nnetworks\t%s\n", cell(strings.Join(k.Audience, " ")), cell(strings.Join(k.Networks, " ")))
	fmt.Fprintf(tw, "created_at\t%s\nexpires_at\t%s\n", k.CreatedAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339))
	return tw.Flush()
}

// WriteAPIKeyList prints keys a line each.
func WriteAPIKeyList(w io.Writer, l APIKeyList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tNETWORKS\tCREATED\tEXPIRES\tLAST_USED\tREPLACED_BY")
	for _, k := range l.APIKeys {
		last := "-"
		if k.LastUsedAt != nil {
			last = k.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, cell(k.Scope), cell(strings.Join(k.Networks, ",")),
			k.CreatedAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339), last, cell(k.ReplacedBy))
	}
	return tw.Flush()
}

// cell is s for a table cell, "-" if empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
