"""The web console for the people in the loop: approvers' inbox and order pages, the
requester's concierge page. Server-rendered (Jinja2), served by workflow-host under
``/console`` with its static files under ``/console/static``."""

from workflow_host.console.routes import PREFIX, STATIC_DIR, router

__all__ = ["PREFIX", "STATIC_DIR", "router"]
