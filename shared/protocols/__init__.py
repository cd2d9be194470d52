"""Pure provider wire protocols (WeChat Pay APIv3, Alipay OpenAPI) shared by the payment service and the sandbox."""
