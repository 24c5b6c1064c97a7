#!/usr/bin/env python
from echoshare.cli import main

if __name__ == "__main__":
    main()
