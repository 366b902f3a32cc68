// Command servicegraph exists only for its module graph, the second one the
// mirror benchmark downloads with "go mod download all": what a typical
// service imports (an HTTP framework, PostgreSQL, S3 and MinIO clients,
// OpenTelemetry over gRPC, Kubernetes), 377 module zips.
package main

import (
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/minio/minio-go/v7"
	_ "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	_ "k8s.io/client-go/kubernetes"
)

func main() {}
