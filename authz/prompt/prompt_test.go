package prompt

import (
	"io"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "correct horse\n", want: "correct horse"},
		{in: "correct horse\r\n", want: "correct horse"},
		{in: "correct horse", want: "correct horse"},
		{in: "  spaces kept  \n", want: "  spaces kept  "},
		{in: "first line\nsecond line\n", want: "first line"},
		{in: "ends in cr\r\r\n", want: "ends in cr\r"},
		{in: strings.Repeat("x", MaxLine) + "\r\n", want: strings.Repeat("x", MaxLine)},
		{in: strings.Repeat("x", MaxLine+1) + "\n", wantErr: "longer than 1024 bytes"},
		{in: strings.Repeat("x", 10*MaxLine), wantErr: "longer than 1024 bytes"},
		{in: "", wantErr: "no password on stdin"},
		{in: "\n", wantErr: "no password on stdin"},
		{in: "\r\n", wantErr: "no password on stdin"},
	}
	for _, tt := range tests {
		got, err := Line(strings.NewReader(tt.in))
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if got != tt.want || (tt.wantErr == "") != (err == nil) || !strings.Contains(errText, tt.wantErr) {
			t.Errorf("Line(%.40q) = %.40q, %v; want %.40q, error containing %q", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := Line(io.MultiReader(strings.NewReader("part"), errReader{})); err == nil ||
		!strings.Contains(err.Error(), "read the password from stdin: ") {
		t.Errorf("Line of a failing reader = %v, want a read error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }
