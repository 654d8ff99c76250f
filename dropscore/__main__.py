from dropscore.cli import main

main()
