"""seqcnn.report"""
