"""The code under test. Its modules simulate what makes real environments vary (see README.md)."""
