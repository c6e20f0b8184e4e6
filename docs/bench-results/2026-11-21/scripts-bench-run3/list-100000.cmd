arca bench list --size 4KiB --objects 100000 --prepare-concurrency 64 --concurrency 1 --duration 15
