// Package console holds the console's browser tests: a real samsa broker (samsatest) with its
// console, driven by headless Chromium (Debian's chromium package) through
// github.com/chromedp/chromedp. Without chromium they skip, except under CI=true where they
// fail. Screenshots of the overview go to the test's temporary directory, and also to
// $SAMSA_SCREENSHOT_DIR when it is set.
package console
