"""Publishing: pages, charts, easy read, downloads and disclosure control for the website."""
