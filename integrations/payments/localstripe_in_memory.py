"""localstripe without its snapshot to disk.

localstripe pickles its whole store after every write, so each request costs time in
proportion to everything created before it. Benchmarks and crash tests create thousands of
payments and must measure orderflow, not that; they run this. The API it serves is the same.
"""

from localstripe import resources
from localstripe.server import start

resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]

if __name__ == "__main__":
    start()
