"""Process plumbing shared by every long-running command: interrupts, process trees, work folders."""
