"""Campaigns come with the detection issue; the app exists so the layout is stable."""
