"""A tiny shop with a few planted defects, opened in real editors by aqe's client tests."""
