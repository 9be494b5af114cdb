// Package browsertest drives ottr's web UI in a real headless Chromium
// (Debian's chromium package) against the lab: an embedded ACME CA, DNS
// server and emulated devices, with `ottr serve`'s API, UI and workers in
// the test process. It holds tests only; run with
// -ui.screenshots=DIR it also saves screenshots of the main screens
// (`make ui-screenshots` writes docs/ui/).
package browsertest
