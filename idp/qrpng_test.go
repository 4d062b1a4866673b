package idp

import (
	"bytes"
	"image/png"
	"testing"
)

// BenchmarkQRPNG is the QR image of one /qr/authorize (see qrPNG).
func BenchmarkQRPNG(b *testing.B) {
	for b.Loop() {
		if _, err := qrPNG("https://login.example.com/q/AbCdEfGhIjKlMnOpQrStUv"); err != nil {
			b.Fatal(err)
		}
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
