"""The web studio (``automaster serve``): upload a mix and references, hear the suggestion,
change it, render versions and download them. Needs ``automaster[web]`` (Starlette, uvicorn)."""
