module localstack.invalid/pause

go 1.22
