from csdclip_cli.cli.app import main

main()
