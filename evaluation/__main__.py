from evaluation.cli import main
import sys

sys.exit(main())
