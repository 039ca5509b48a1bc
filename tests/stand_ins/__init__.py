"""Local stand-ins for the outside services the app talks to (real HTTP servers, no mocks)."""
