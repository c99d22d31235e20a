// Package browsertest drives a real, headless Chromium from tests with
// github.com/chromedp/chromedp.
//
// Start launches one browser for a test (a fresh profile in t.TempDir,
// no sandbox, no GPU, no QUIC, no first-run, background networking,
// component updates or sync); NewTab opens a tab in its own browser
// context, so tabs share no cookies. Every step runs with a bounded
// timeout, and a tab records what went wrong on its pages: Content
// Security Policy violations (the page's securitypolicyviolation events,
// and the browser's log), uncaught exceptions and console errors. A test
// ends with Tab.CheckClean, which fails it if any happened.
//
// AddAuthenticator attaches a DevTools virtual WebAuthn authenticator
// (CTAP2, internal transport, resident keys, user verification) to a tab,
// so navigator.credentials.create and get work without a person; WebAuthn
// needs a secure context and a domain as relying-party id, so pages that
// use it are opened at http://localhost:<port>, not 127.0.0.1.
//
// Without Chromium (looked up as chromium, chromium-browser,
// google-chrome, google-chrome-stable or headless-shell on PATH), Start
// skips the test, saying how to install it; with
// IDVAUTH_TEST_REQUIRE_BROWSER=1, as CI sets it, it fails the test
// instead.
package browsertest
