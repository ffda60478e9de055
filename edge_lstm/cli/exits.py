"""The command line's exit codes: 0 success; 1 the work failed (verification failed, a runtime error); 2 bad
usage or bad input (unreadable file, unsupported model, wrong shapes), the message says which; 130 interrupted."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
