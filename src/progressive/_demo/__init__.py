"""The demo's manifests and, for ``progressive demo --prometheus`` and the tests, a small
app instrumented with prometheus-client (:mod:`.app`) and a local Prometheus server
(:mod:`.prometheus`)."""
