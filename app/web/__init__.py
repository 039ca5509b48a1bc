"""The web pages: the member's H5 (/m/), the clerk's scanner (/clerk/) and the operator's
dashboard (/admin/). Static HTML, CSS and JavaScript that talk only to the JSON API under
/api/v1; served by the same Litestar app, outside /api, with strict security headers."""
