arca bench get --size 1GiB --concurrency 1 --objects 1 --count 1 --verify
