"""Use cases, one transaction each: accounts, workflows, jobs and logs."""
