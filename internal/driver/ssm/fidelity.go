package ssm

import (
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// Sources the table cites.
const (
	ssmAPI = "AWS Systems Manager API Reference, "
	sdkSSM = "; aws-sdk-go-v2 service/ssm/"
)

// Requests lists every kind of request the driver sends, each with the
// published source that confirms its shape (driver.Request): the AWS calls,
// named as IAM names their actions, and the programs the scripts it sends
// with SendCommand start on the instance ("AWS-RunShellScript: <program>"),
// as the lab endpoint records them (Service.Calls): every branch of a
// script counts, whether or not it ran. A test fails on any request the
// emulator sees that is not listed here.
func Requests() []driver.Request {
	return append([]driver.Request{
		{
			Call: "ec2:DescribeInstances",
			Fields: "Query protocol POST (SigV4, service ec2): Action=DescribeInstances, Version=2016-11-15, " +
				"Filter.1 tag:Name = the Name tag (`\\` before `*` and `?`), Filter.2 instance-state-name = running, MaxResults=1000, NextToken; " +
				"reads instanceId, instanceState/name and tagSet of each instance",
			Source: "Amazon EC2 API Reference: DescribeInstances (filters tag:KEY and instance-state-name, MaxResults 5 to 1000, " +
				"NextToken), Making requests: Query requests, and Filtering (a backslash escapes `*` and `?`); aws-sdk-go-v2 " +
				"service/ec2/api_op_DescribeInstances.go",
		},
		{
			Call: "ssm:SendCommand",
			Fields: "JSON 1.1, X-Amz-Target AmazonSSM.SendCommand: DocumentName (the route's document, AWS-RunShellScript by default), " +
				"InstanceIds [the instance], Parameters commands [one POSIX sh script; an install's certificates go in a here-document " +
				"ahead of it, exec 0<<'@@ottr-stdin', as its standard input] and executionTimeout [seconds], TimeoutSeconds, " +
				"Comment \"ottr: STEP\" (at most 100 characters)",
			Source: ssmAPI + "SendCommand; AWS Systems Manager User Guide, AWS-RunShellScript (parameters commands, executionTimeout); " +
				hostcheck.POSIX + "sh, 2.7.4 Here-Document, and exec" +
				sdkSSM + "api_op_SendCommand.go",
		},
		{
			Call: "ssm:GetCommandInvocation",
			Fields: "CommandId, InstanceId, polled until Status is final; reads Status, StatusDetails, ResponseCode, " +
				"StandardOutputContent and StandardErrorContent (their first 24,000 characters); InvocationDoesNotExist " +
				"right after SendCommand means poll again",
			Source: ssmAPI + "GetCommandInvocation (StandardOutputContent: the first 24,000 characters; error InvocationDoesNotExist)" +
				sdkSSM + "api_op_GetCommandInvocation.go",
		},
		{
			Call:   "ssm:CancelCommand",
			Fields: "CommandId, InstanceIds [the instance]: a command whose wait was abandoned (timeout, cancelled rotation)",
			Source: ssmAPI + "CancelCommand" + sdkSSM + "api_op_CancelCommand.go",
		},
		{
			Call: "ssm:DescribeInstanceInformation",
			Fields: "Filters [{Key: InstanceIds, Values: [the instance]}] (Check); reads PingStatus, AgentVersion, PlatformName, " +
				"PlatformVersion; a node that is not listed is stopped or not managed",
			Source: ssmAPI + "DescribeInstanceInformation (Filters; stopped and terminated nodes are not returned; an unknown ID is an error); " +
				"AWS CLI Command Reference, ssm describe-instance-information, example --filters \"Key=InstanceIds,Values=…\"" +
				sdkSSM + "api_op_DescribeInstanceInformation.go",
		},
		{
			Call: "AWS-RunShellScript: reload_command",
			Fields: "the route's reload_command, inside the install and rollback scripts, its output kept for the error; " +
				"its exit status decides",
			Source: hostcheck.POSIX + "sh, 2.9.4 Compound Commands ({ …; }) and 2.6.3 Command Substitution; the command itself is " +
				"the operator's (route option reload_command)",
		},
		{
			Call: `AWS-RunShellScript: "$hook"`,
			Fields: "each executable `*.sh` file of pre_hooks_dir (before the CSR) and post_hooks_dir (after install and rollback), " +
				"in byte order (LC_COLLATE=C), with OTTR_HOOK_PHASE and OTTR_CERT_PATH, OTTR_KEY_PATH, OTTR_CHAIN_PATH set",
			Source: hostcheck.POSIX + "sh, 2.9.1 Simple Commands (command search and execution) and 2.13.3 Patterns Used for " +
				"Filename Expansion (sorted by the collation sequence); the hooks themselves are the operator's",
		},
	}, hostcheck.ProgramRequests("AWS-RunShellScript: ")...)
}
