package statuspage

import (
	"bytes"
	"context"
	"html"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestChromium renders the page in a real headless browser at phone width
// and checks what a person would read, which string matching on the
// template output cannot: that the CSS, the escaping and the SVG survive a
// browser's parser.
//
// Set STATUSPAGE_SHOTS=dir to keep screenshots (a phone screen, the whole
// page at phone width, and a desktop window) for a look by eye.
func TestChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium not on PATH; to run this test: apt-get install chromium")
	}

	srv := httptest.NewServer(Handler(fixed(fixture(time.Now()))))
	defer srv.Close()

	dom := chromium(t, bin, "375,800", "--dump-dom", srv.URL)
	if !strings.Contains(dom, "edge-kitchen-01") {
		t.Fatalf("chromium did not render the page:\n%.2000s", dom)
	}
	// An injected question would appear as a script element in the DOM.
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("the DOM has a script element")
	}
	text := visibleText(dom)
	for _, want := range []string{
		"edge-kitchen-01", "ready", "v0.4.2", "Shards", "manuals", "faq",
		"Recent queries", "How do I reset the oven timer?", `<script>alert("x")</script> why & how?`,
		"0.82", "abstained", "Central reachable", "membership not configured", "fleet sync not configured",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("a person would not see %q in:\n%s", want, text)
		}
	}

	dir := t.TempDir()
	shot := filepath.Join(dir, "phone.png")
	chromium(t, bin, "375,800", "--screenshot="+shot, srv.URL)
	checkPNG(t, shot)

	if keep := os.Getenv("STATUSPAGE_SHOTS"); keep != "" {
		full := filepath.Join(keep, "full.png")
		chromium(t, bin, "375,3000", "--screenshot="+full, srv.URL)
		chromium(t, bin, "1100,1800", "--screenshot="+filepath.Join(keep, "desktop.png"), srv.URL)
		if b, err := os.ReadFile(shot); err == nil {
			err = os.WriteFile(filepath.Join(keep, "phone.png"), b, 0o644)
			if err != nil {
				t.Error(err)
			}
		}
		t.Logf("screenshots in %s", keep)
	}
}

// chromium runs one headless browser with a window of size ("w,h"), isolated from the
// network beyond url and from the user's profile, and returns its stdout.
func chromium(t *testing.T, bin, size string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", // containers often have a tiny /dev/shm
		"--user-data-dir=" + filepath.Join(home, "profile"),
		"--window-size=" + size,
	}, args...)...)
	// Keep crash reports and caches out of the real home directory.
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.WaitDelay = 5 * time.Second // a helper process holding the pipes must not hang the test
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

var (
	headRE = regexp.MustCompile(`(?is)<head>.*</head>`)
	svgRE  = regexp.MustCompile(`(?is)<svg.*?</svg>`) // bar tooltips, not on screen
	tagRE  = regexp.MustCompile(`<[^>]*>`)
)

// visibleText approximates the text on screen: the body without tags, with
// entities decoded and white space collapsed.
func visibleText(dom string) string {
	s := headRE.ReplaceAllString(dom, " ")
	s = svgRE.ReplaceAllString(s, " ")
	s = tagRE.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// checkPNG wants a phone-width image with real content: a blank or error
// page is a handful of colours and compresses to almost nothing.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10<<10 {
		t.Errorf("screenshot is only %d bytes", len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if w := img.Bounds().Dx(); w < 375 {
		t.Errorf("screenshot %d px wide, want 375", w)
	}
	if n := colours(img); n < 50 {
		t.Errorf("screenshot has %d colours; is it blank?", n)
	}
}

func colours(img image.Image) int {
	seen := map[uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			seen[cr>>8<<16|cg>>8<<8|cb>>8] = true
		}
	}
	return len(seen)
}
