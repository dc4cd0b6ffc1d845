from osp.cli import main

main()
