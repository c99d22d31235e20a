package mfa

import (
	"fmt"
	"html/template"
	"image/color"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// quietZone is the blank margin around a QR code, in modules (ISO/IEC
// 18004 asks for 4).
const quietZone = 4

// QRSVG returns text as a QR code in an inline SVG element: the
// encoding is github.com/boombuler/barcode's, the drawing one rect per run
// of dark modules in a row. It holds only numbers of its own making, so
// it is safe to put into a page as is, and it needs no style (the page's
// CSP allows none inline).
func QRSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("mfa: QR code: %w", err)
	}
	n := code.Bounds().Dx()
	size := n + 2*quietZone
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="QR code" shape-rendering="crispEdges">`,
		size, size, size*6, size*6)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, size, size)
	for y := 0; y < n; y++ {
		for x := 0; x < n; {
			if !dark(code.At(x, y)) {
				x++
				continue
			}
			start := x
			for x < n && dark(code.At(x, y)) {
				x++
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="1"/>`, start+quietZone, y+quietZone, x-start)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), nil //nolint:gosec // built above from integers only
}

func dark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
