package devkit

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// NewLogger is the log of serve: for --dev (dev) human-readable, in colour
// only on a terminal; JSON lines otherwise.
func NewLogger(dev bool, level zapcore.Level, w io.Writer) *zap.Logger {
	var enc zapcore.Encoder
	if dev {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			// Colour codes only where a terminal shows them, not in a
			// file or a pipe.
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level))
}
