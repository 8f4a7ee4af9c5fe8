// Package chromiumtest finds headless Chromium for tests and starts it with
// the flags every browser test here needs, the way socketiotest starts the
// Socket.IO example server. It is used by tests only.
package chromiumtest

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary, or skips t saying what the test would
// have checked (why) and how to install it.
func Path(t testing.TB, why string) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (/usr/bin/chromium): install Debian's chromium package to " + why)
	return ""
}

// Allocator starts chromedp's allocator for the Chromium at exe: headless
// with chromedp's defaults, no sandbox (tests run as root), no zygote and
// no /dev/shm (several browsers starting at once on a loaded machine
// otherwise fail with "Zygote could not fork"), no GPU, plus extra.
func Allocator(exe string, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("no-zygote", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.DisableGPU)
	return chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
}
