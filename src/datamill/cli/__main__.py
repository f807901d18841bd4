from datamill.cli import main

main()
