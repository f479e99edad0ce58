"""Traffic routers (Nginx Ingress, Istio, SMI, Gateway API): one module each behind a
small Protocol.  The in-memory router used by ``simulate`` and the demo lives in
``progressive._shell.traffic`` until the real routers land."""

__all__: list[str] = []
