"""The platform's one DynamoDB table: its shape and key conventions (``keys``), the wire codec
(``codec``) and the school-prefix guard (``guard``). Item types belong to the services that write
them (each service's ``table_design``); those other services read are published in
``luca_platform.contracts``."""
