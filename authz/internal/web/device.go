package web

import "strings"

// Device summarises a User-Agent header as a browser family and an
// operating system ("Firefox on Windows"), for a person to tell their
// sessions apart: nothing finer (no versions, no device models), so the
// summary identifies no one, and "A browser" when it cannot tell.
func Device(userAgent string) string {
	ua := userAgent
	if len(ua) > 512 {
		ua = ua[:512]
	}
	browser := firstMatch(ua, []match{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Chrome"},
		{"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"FxiOS/", "Firefox"}, {"Safari/", "Safari"},
	})
	system := firstMatch(ua, []match{
		{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	})
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	return "A browser"
}

type match struct{ token, name string }

func firstMatch(s string, ms []match) string {
	for _, m := range ms {
		if strings.Contains(s, m.token) {
			return m.name
		}
	}
	return ""
}
