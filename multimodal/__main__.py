from multimodal.cli.main import main

raise SystemExit(main())
