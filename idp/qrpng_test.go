package idp

import (
	"bytes"
	"image/png"
	"syscall"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// BenchmarkQRPNG is the QR image of one /qr/authorize (see qrPNG), and
// for comparison in the same run the same image at level M (what it
// was) and skip2/go-qrcode's own PNG at M (what it was before that).
func BenchmarkQRPNG(b *testing.B) {
	const uri = "https://login.example.com/q/AbCdEfGhIjKlMnOpQrStUv"
	for _, bc := range []struct {
		name   string
		render func() ([]byte, error)
	}{
		{"served", func() ([]byte, error) { return qrPNG(uri) }},
		{"level-M", func() ([]byte, error) { return qrPNGAt(uri, qrcode.Medium) }},
		{"skip2-PNG-level-M", func() ([]byte, error) {
			q, err := qrcode.New(uri, qrcode.Medium)
			if err != nil {
				return nil, err
			}
			return q.PNG(-4)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				if _, err := bc.render(); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU time per image: on a machine shared with
			// other work, ns/op (wall time) includes waiting for a core.
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// The hand-written PNG decodes with image/png to exactly the bitmap.
func TestBitmapPNGDecodesToTheBitmap(t *testing.T) {
	bits := [][]bool{{true, false, true}, {false, false, true}, {true, true, false}}
	for _, scale := range []int{1, 3, 4} {
		raw, err := bitmapPNG(bits, scale)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("scale %d: %v", scale, err)
		}
		if b := img.Bounds(); b.Dx() != 3*scale || b.Dy() != 3*scale {
			t.Fatalf("scale %d: bounds %v", scale, b)
		}
		for y := range 3 * scale {
			for x := range 3 * scale {
				r, _, _, _ := img.At(x, y).RGBA()
				if dark := r == 0; dark != bits[y/scale][x/scale] {
					t.Fatalf("scale %d: pixel (%d,%d) dark=%v", scale, x, y, dark)
				}
			}
		}
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
